"""The exit statuses of the `latentloom` commands, shared by every command module."""

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 128 + 2, 128 + 13  # as a shell reports death by SIGINT / SIGPIPE
