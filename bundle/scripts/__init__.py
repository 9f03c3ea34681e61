"""The spindle bundle's Python plugin, imported by the configs as ``scripts``.

Tensor axis order used everywhere in this plugin and in the configs: MONAI channel-first,
spatial axes in (x, y, z) order, i.e. ``(C, X, Y, Z)`` for one image and ``(N, C, X, Y, Z)`` for a
batch. Spacing tuples are in um and follow the same (x, y, z) order, e.g. ``(0.17, 0.17, 2.0)``.
TIFF files store frames as ZYX (ImageJ order); ``scripts.io`` converts on read and write.
"""
