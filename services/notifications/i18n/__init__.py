"""The reader's language: which catalogue they get (`catalogues`) and how values read in it (`values`)."""
