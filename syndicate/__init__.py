"""syndicate: article records in; category feeds, an email digest and mixed-in outside sources out."""

__version__ = "0.1.0"
