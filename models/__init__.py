"""The data scientists' folder: one module per registered model. Artifacts go to the artifact store, not git."""
