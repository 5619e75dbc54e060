"""Discussion under papers: Markdown rendering, mentions, who may moderate, notifications.

Policy lives here; SQL in `paperfeed/store/discussion.py` and `store/notifications.py`; pages and API in
`paperfeed/web/discussion.py`.
"""
