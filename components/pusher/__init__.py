"""The Pusher: versioned SavedModels in the serving directory, and their retention."""
