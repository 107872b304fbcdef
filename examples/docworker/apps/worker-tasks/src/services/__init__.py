"""Document understanding: text extraction, classification, field extraction."""
