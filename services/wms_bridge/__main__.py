"""``python -m services.wms_bridge``: run the WMS bridge (settings from BACKBONE_WMS_* variables)."""

from __future__ import annotations

from services.wms_bridge.app import run

if __name__ == "__main__":
    run()
