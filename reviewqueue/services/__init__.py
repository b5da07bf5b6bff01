"""Use cases. One module per family; each public function owns its transaction (one use case, one commit)."""
