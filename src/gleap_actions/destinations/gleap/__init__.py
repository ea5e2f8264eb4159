"""The Gleap (Actions) destination: settings, actions, authentication test and user deletion."""
