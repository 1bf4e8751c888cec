"""Small pieces every app's web layer shares: the htmx request type, the one API error handler,
API pagination, and markdown rendering of text that must not run (sanitised HTML)."""
