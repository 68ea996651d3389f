"""The MLOps dashboard inside the Airflow UI, and ``mlops status``: one health summary for both.

:mod:`.facts` gathers, :mod:`.health` judges, :mod:`.service` serves (with the cache), :mod:`.render` draws the
pages, :mod:`.app` is the FastAPI app, :mod:`.plugin` the Airflow plugin. See docs/dashboard.md.
"""
