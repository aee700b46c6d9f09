"""The scale bench (`python -m bench --only scale`): the same requests on a small and a
large data set (``dataset``, made by ``rows``), side by side in one run."""
