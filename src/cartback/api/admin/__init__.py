"""
The merchant dashboard under `/admin`: operator sign-in with server-side sessions, CSRF
tokens, strict security headers, and server-rendered pages scoped to the operator's stores.
"""
