"""reviewqueue's Streamlit UI: `streamlit run ui/app.py`; it talks to the API only, via reviewqueue.client."""
