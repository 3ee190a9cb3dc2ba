"""The appointments engine: services registered by modules, booked with people or rooms."""
