"""
The platforms whose webhooks Cartback receives, by the name in `/webhooks/{platform}/…`.
"""

from __future__ import annotations

from cartback.sources._webhooks import WebhookSource


def webhook_sources() -> dict[str, WebhookSource]:
    """
    Every webhook adapter, by platform name.
    """
    from cartback.sources import magento, shopify, woocommerce

    modules: list[WebhookSource] = [shopify, woocommerce, magento]
    return {module.SOURCE: module for module in modules}
