"""
The words of the unsubscribe pages in English, German, French and Spanish, and the choice of
language from `Accept-Language`. What a person clicked is recorded in the consent ledger in
the words shown, so these are evidence as well as interface: change them with care.
"""

from __future__ import annotations

LOCALES = ("en", "de", "fr", "es")
DEFAULT_LOCALE = "en"

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Email preferences",
        "intro": "Emails from {store} to {address}",
        "unsubscribe": "Unsubscribe from all emails from {store}",
        "legend": "What would you like to receive from {store}?",
        "recovery": "Only reminders about carts I leave behind",
        "everything": "Everything: cart reminders, offers and news",
        "nothing": "Nothing: no emails at all",
        "current": "(current)",
        "save": "Save my choice",
        "done_title": "You're unsubscribed",
        "done_body": "{address} will get no more emails from {store}.",
        "saved_title": "Your choice is saved",
        "saved_recovery": "You will only get reminders about carts you leave behind.",
        "saved_everything": "You will get cart reminders, offers and news.",
        "manage": "Change your preferences",
        "invalid_title": "This link doesn't work",
        "invalid_body": "The link may have been cut off or changed. Use the unsubscribe link "
        "in the latest email you received, or reply to that email and ask to be removed.",
        "gone_title": "Nothing to unsubscribe",
        "gone_body": "We no longer hold any data for this link, so no email reaches you "
        "through it.",
        "expired": "This form is out of date. Check your choice and save it again.",
        "confirm": "Please confirm your choice on this page.",
        "choose": "Choose one of the options below.",
    },
    "de": {
        "title": "E-Mail-Einstellungen",
        "intro": "E-Mails von {store} an {address}",
        "unsubscribe": "Von allen E-Mails von {store} abmelden",
        "legend": "Was möchten Sie von {store} erhalten?",
        "recovery": "Nur Erinnerungen an Warenkörbe, die ich zurücklasse",
        "everything": "Alles: Warenkorb-Erinnerungen, Angebote und Neuigkeiten",
        "nothing": "Nichts: keine E-Mails",
        "current": "(aktuell)",
        "save": "Auswahl speichern",
        "done_title": "Sie sind abgemeldet",
        "done_body": "{address} erhält keine E-Mails mehr von {store}.",
        "saved_title": "Ihre Auswahl ist gespeichert",
        "saved_recovery": "Sie erhalten nur noch Erinnerungen an zurückgelassene Warenkörbe.",
        "saved_everything": "Sie erhalten Warenkorb-Erinnerungen, Angebote und Neuigkeiten.",
        "manage": "Einstellungen ändern",
        "invalid_title": "Dieser Link funktioniert nicht",
        "invalid_body": "Der Link wurde vielleicht gekürzt oder verändert. Verwenden Sie den "
        "Abmeldelink aus der neuesten E-Mail, die Sie erhalten haben, oder antworten Sie auf "
        "diese E-Mail und bitten Sie um Abmeldung.",
        "gone_title": "Nichts abzumelden",
        "gone_body": "Zu diesem Link sind keine Daten mehr gespeichert; über ihn erhalten Sie "
        "keine E-Mails.",
        "expired": "Dieses Formular ist abgelaufen. Prüfen Sie Ihre Auswahl und speichern Sie "
        "sie erneut.",
        "confirm": "Bitte bestätigen Sie Ihre Auswahl auf dieser Seite.",
        "choose": "Wählen Sie eine der Optionen unten.",
    },
    "fr": {
        "title": "Préférences e-mail",
        "intro": "E-mails de {store} à {address}",
        "unsubscribe": "Me désabonner de tous les e-mails de {store}",
        "legend": "Que souhaitez-vous recevoir de {store} ?",
        "recovery": "Uniquement les rappels des paniers que je laisse en attente",
        "everything": "Tout : rappels de panier, offres et nouveautés",
        "nothing": "Rien : aucun e-mail",
        "current": "(actuel)",
        "save": "Enregistrer mon choix",
        "done_title": "Vous êtes désabonné",
        "done_body": "{address} ne recevra plus d'e-mails de {store}.",
        "saved_title": "Votre choix est enregistré",
        "saved_recovery": "Vous ne recevrez que les rappels des paniers laissés en attente.",
        "saved_everything": "Vous recevrez les rappels de panier, les offres et les nouveautés.",
        "manage": "Modifier mes préférences",
        "invalid_title": "Ce lien ne fonctionne pas",
        "invalid_body": "Le lien a peut-être été tronqué ou modifié. Utilisez le lien de "
        "désabonnement du dernier e-mail reçu, ou répondez à cet e-mail pour demander votre "
        "désinscription.",
        "gone_title": "Rien à désabonner",
        "gone_body": "Nous ne conservons plus de données pour ce lien ; aucun e-mail ne vous "
        "parvient par son intermédiaire.",
        "expired": "Ce formulaire a expiré. Vérifiez votre choix et enregistrez-le à nouveau.",
        "confirm": "Veuillez confirmer votre choix sur cette page.",
        "choose": "Choisissez l'une des options ci-dessous.",
    },
    "es": {
        "title": "Preferencias de correo",
        "intro": "Correos de {store} a {address}",
        "unsubscribe": "Darme de baja de todos los correos de {store}",
        "legend": "¿Qué quieres recibir de {store}?",
        "recovery": "Solo recordatorios de los carritos que dejo a medias",
        "everything": "Todo: recordatorios de carrito, ofertas y novedades",
        "nothing": "Nada: ningún correo",
        "current": "(actual)",
        "save": "Guardar mi elección",
        "done_title": "Te has dado de baja",
        "done_body": "{address} no recibirá más correos de {store}.",
        "saved_title": "Tu elección se ha guardado",
        "saved_recovery": "Solo recibirás recordatorios de los carritos que dejes a medias.",
        "saved_everything": "Recibirás recordatorios de carrito, ofertas y novedades.",
        "manage": "Cambiar mis preferencias",
        "invalid_title": "Este enlace no funciona",
        "invalid_body": "Puede que el enlace se haya cortado o modificado. Usa el enlace para "
        "darte de baja del último correo que recibiste, o responde a ese correo y pide que te "
        "den de baja.",
        "gone_title": "Nada que dar de baja",
        "gone_body": "Ya no guardamos datos de este enlace, así que no te llega ningún correo "
        "a través de él.",
        "expired": "Este formulario ha caducado. Revisa tu elección y guárdala de nuevo.",
        "confirm": "Confirma tu elección en esta página, por favor.",
        "choose": "Elige una de las opciones de abajo.",
    },
}


def negotiate(accept_language: str | None) -> str:
    """
    The supported locale the browser prefers most (`Accept-Language`, RFC 9110 §12.5.4),
    by primary language tag; English when none matches.
    """
    best, best_quality = DEFAULT_LOCALE, 0.0
    for part in (accept_language or "").split(",")[:20]:
        tag, _, parameters = part.strip().partition(";")
        language = tag.strip().split("-")[0].lower()
        quality = _quality(parameters)
        # Strictly greater: of equal qualities the first listed wins.
        if language in LOCALES and quality > best_quality:
            best, best_quality = language, quality
    return best


def _quality(parameters: str) -> float:
    name, _, value = parameters.strip().partition("=")
    if name.strip().lower() != "q":
        return 1.0
    try:
        quality = float(value)
    except ValueError:
        return 0.0
    return quality if 0.0 <= quality <= 1.0 else 0.0
