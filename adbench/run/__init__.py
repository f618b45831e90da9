"""Config -> cases -> strategies -> measurement -> sweep: everything that produces measurements."""
