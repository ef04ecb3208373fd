"""Audiences: contacts and their consent ledger, contact imports, lists and segments."""
