"""Summary and embedding providers behind one small interface (see ``base``)."""
