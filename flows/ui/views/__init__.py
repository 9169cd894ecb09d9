"""The cockpit's pages, one module each; ``common`` holds what they share (errors, sessions, caches)."""
