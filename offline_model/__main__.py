"""``python -m offline_model --port 8765``: the offline model server without Django."""

from offline_model.server import main

if __name__ == "__main__":
    main()
