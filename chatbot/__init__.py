"""The FAQ chatbot: answers from the articles, says when it does not know, hands off to a human."""
