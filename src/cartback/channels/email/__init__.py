"""
Email transport: the MIME message and its DKIM signature (`mime`), and the channels that send
it, SMTP (`smtp`) and Resend's HTTP API (`resend`).
"""
