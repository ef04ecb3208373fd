"""The offline Kaleyra: answers sends as Kaleyra documents and plays its callbacks back."""
