"""The UI's pages; each file is run by st.navigation (see ui/app.py), not imported."""
