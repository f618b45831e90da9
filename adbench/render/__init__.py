"""Results -> strings, bytes and figures for people (terminal, Markdown, HTML, plots, exports)."""
