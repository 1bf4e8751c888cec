"""The learnability report of a preference export: does a small reward model learn the labels?

``model`` trains a hashed n-gram linear pairwise model on the train split (CPU, no network,
seeded) and scores it on validation and test beside a length-only baseline; ``reading`` reads
the preference pairs of an export folder or of a selection; ``services`` runs the report after
an export and on demand from the export form's preview.
"""
