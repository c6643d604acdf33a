"""The freshness job: review-by dates, ownership, reminders, weekly summaries, banners."""
