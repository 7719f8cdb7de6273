"""Group-balanced synthetic datasets: settings (``config``), the sources table (``sources``), the
per-unit image plan (``plan``), sampling and writing (``core``), the quality filter
(``quality``), fidelity to the real images (``fidelity``), the dataset card and the
``hf-fair generate`` CLI (``cli``)."""
