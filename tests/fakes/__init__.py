"""Stand-ins for remote services, served for real over loopback HTTP so clients are tested end to end."""
