"""Production topology on one machine: N Rasa replicas, M action servers, the console, nginx in front,
PostgreSQL (tracker store + application data) and Redis (lock store, shared caches)."""
