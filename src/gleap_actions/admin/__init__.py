"""The admin API under `/admin/`, protected by its own token."""
