"""One ``APIRouter`` named ``router`` per resource, included by ``api/app.py``."""
