# blob store sources: front, registry and the enabled backends (filled in by the blob work).
