"""The PostgreSQL backend of the queue: shared by many nodes, with migrations and a shared rate limiter."""
