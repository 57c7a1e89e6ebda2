"""
The messages Cartback ships: the built-in email templates (`email/*.j2`, Jinja2 with
autoescape), rendered by `cartback.services.rendering`. A store's own templates override them.
"""
