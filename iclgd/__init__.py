"""iclgd — a property-based verification suite for the theory of in-context learning."""
__version__ = "0.1.0"
