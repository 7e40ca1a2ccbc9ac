"""The `mtms` command line: parsing, progress bars and tables; the work is in components/."""
