"""The `namegen` subcommands; each module adds its commands with `register(subparsers)`."""
