# mail store sources: front, registry and the enabled backends (filled in by the mail work).
