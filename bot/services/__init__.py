"""Platform-neutral domain services: each rule of the system lives in one of these."""
