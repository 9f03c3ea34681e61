"""napari plugin of the meiotic spindle volume bundle: a lazy reader for its time series (``_reader``)."""

__version__ = "0.1.0"
