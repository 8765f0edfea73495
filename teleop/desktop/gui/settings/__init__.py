"""The Settings dialog's pages, one per tab, each a view of the part of the settings it edits."""
