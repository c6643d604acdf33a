"""Migration revisions: 0001_initial <- 0002_freshness <- 0003_chat."""
