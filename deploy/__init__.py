"""Development tooling kept with the checkout (not part of the installed wheel).

``deploy.local`` is the private local stack (Kafka + PostgreSQL, no Docker);
``compose.yaml`` and the ``Dockerfile`` beside this file are for Docker users.
"""
