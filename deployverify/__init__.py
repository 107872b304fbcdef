"""deployverify: prove a Python AWS Lambda worker is real before and after it ships."""

__version__ = "0.1.0"
