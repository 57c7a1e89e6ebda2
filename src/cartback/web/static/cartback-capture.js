/*! cartback-capture.js: Cartback's lead-capture widgets. Apache-2.0. Docs: docs/capture.md
 *
 * Loaded by cartback.js only when the store switches a widget on. Hand-written ES2017, no build
 * step, no dependencies. Nothing leaves the page until the shopper typed an address and agreed;
 * every opt-in starts unticked; "No thanks" is remembered for 30 days per widget. Each widget
 * lives in its own shadow root, so the shop's styles and ours never meet.
 */
(function (w, d) {
  'use strict';
  try {
    var cb = w.cartback;
    var bridge = cb && cb._capture;
    if (!bridge || cb.capture.ready) return;
    var config = bridge.config;
    var on = config.widgets || {};
    var sms = config.sms || {};
    var us = config.region === 'us';
    var DAY = 864e5;
    var EMAIL = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;
    var PHONE = /^\+?\d{6,15}$/;
    var PROMPTS = ['checkout_button', 'cart_drawer', 'post_abandon', 'exit_intent'];
    var SMS_EN = 'By checking this box, you agree to receive recurring automated cart reminder ' +
      'texts from {brand} at the number provided. Consent is not a condition of purchase. Msg & ' +
      'data rates may apply. Msg frequency varies. Reply HELP for help and STOP to opt out.';

    var T = {
      en: {
        title: 'We\u2019ll save your cart and send you a link to come back',
        email: 'Email', phone: 'Mobile number',
        recovery: 'Email me a link to my cart',
        checkout: 'Email me a link to my cart if I don\u2019t finish',
        notice: 'If you don\u2019t finish, we\u2019ll email you a link to your cart. ' +
          'You can unsubscribe at any time.',
        more: 'Would you like news and offers too?',
        marketing: 'Also email me news and offers. I can unsubscribe at any time.',
        sms_title: 'Text me my checkout link', sms: SMS_EN,
        button: 'Save my cart', send: 'Text me', yes: 'Yes, please', no: 'No thanks', close: 'Close',
        thanks: 'Thanks! Your cart is saved.', thanks_sms: 'Thanks! We\u2019ll text you the link.',
        confirm_sms: 'Thanks! Please reply YES to our text to confirm.',
        bad_email: 'Please enter a valid email address.',
        bad_phone: 'Please enter a valid mobile number.',
        tick: 'Please tick the box to agree.',
        busy: 'Too many tries. Please try again shortly.',
        failed: 'Something went wrong. Please try again.'
      },
      de: {
        title: 'Wir speichern Ihren Warenkorb und schicken Ihnen einen Link, damit Sie ' +
          'sp\u00e4ter weitermachen k\u00f6nnen',
        email: 'E-Mail', phone: 'Handynummer',
        recovery: 'Ich m\u00f6chte per E-Mail einen Link zu meinem Warenkorb erhalten',
        checkout: 'Ich m\u00f6chte per E-Mail einen Link zu meinem Warenkorb erhalten, falls ich ' +
          'den Kauf nicht abschlie\u00dfe',
        notice: 'Falls Sie den Kauf nicht abschlie\u00dfen, schicken wir Ihnen per E-Mail einen ' +
          'Link zu Ihrem Warenkorb. Sie k\u00f6nnen sich jederzeit abmelden.',
        more: 'M\u00f6chten Sie auch Neuigkeiten und Angebote erhalten?',
        marketing: 'Ich m\u00f6chte auch Neuigkeiten und Angebote per E-Mail erhalten. Ich kann mich ' +
          'jederzeit abmelden.',
        sms_title: 'Link zur Kasse per SMS erhalten',
        sms: 'Mit dem Ankreuzen dieses K\u00e4stchens stimmen Sie zu, wiederkehrende automatische ' +
          'SMS-Erinnerungen an Ihren Warenkorb von {brand} an die angegebene Nummer zu ' +
          'erhalten. Die Zustimmung ist keine Voraussetzung f\u00fcr einen Kauf. Es k\u00f6nnen Kosten ' +
          'f\u00fcr Nachrichten und Daten anfallen. Die H\u00e4ufigkeit der Nachrichten variiert. ' +
          'Antworten Sie HELP f\u00fcr Hilfe und STOP zum Abmelden.',
        button: 'Warenkorb speichern', send: 'Per SMS senden', yes: 'Ja, gerne', no: 'Nein, danke',
        close: 'Schlie\u00dfen', thanks: 'Danke! Ihr Warenkorb ist gespeichert.',
        thanks_sms: 'Danke! Wir schicken Ihnen den Link per SMS.',
        confirm_sms: 'Danke! Bitte antworten Sie zur Best\u00e4tigung mit YES auf unsere SMS.',
        bad_email: 'Bitte geben Sie eine g\u00fcltige E-Mail-Adresse ein.',
        bad_phone: 'Bitte geben Sie eine g\u00fcltige Handynummer ein.',
        tick: 'Bitte setzen Sie das H\u00e4kchen, um zuzustimmen.',
        busy: 'Zu viele Versuche. Bitte versuchen Sie es gleich noch einmal.',
        failed: 'Etwas ist schiefgelaufen. Bitte versuchen Sie es noch einmal.'
      },
      fr: {
        title: 'Nous gardons votre panier et vous envoyons un lien pour y revenir',
        email: 'E-mail', phone: 'Num\u00e9ro de mobile',
        recovery: 'Je souhaite recevoir par e-mail un lien vers mon panier',
        checkout: 'Je souhaite recevoir par e-mail un lien vers mon panier si je ne finalise ' +
          'pas ma commande',
        notice: 'Si vous ne finalisez pas votre commande, nous vous enverrons par e-mail un ' +
          'lien vers votre panier. Vous pouvez vous d\u00e9sabonner \u00e0 tout moment.',
        more: 'Souhaitez-vous aussi recevoir nos nouveaut\u00e9s et nos offres\u00a0?',
        marketing: 'Je souhaite aussi recevoir les nouveaut\u00e9s et les offres par e-mail. Je peux ' +
          'me d\u00e9sabonner \u00e0 tout moment.',
        sms_title: 'Recevoir mon lien de paiement par SMS',
        sms: 'En cochant cette case, vous acceptez de recevoir de {brand} des SMS automatiques ' +
          'et r\u00e9currents de rappel de panier au num\u00e9ro indiqu\u00e9. Ce consentement n\u2019est pas ' +
          'une condition d\u2019achat. Des frais de messagerie et de donn\u00e9es peuvent ' +
          's\u2019appliquer. La fr\u00e9quence des messages varie. R\u00e9pondez HELP pour obtenir de ' +
          'l\u2019aide et STOP pour vous d\u00e9sabonner.',
        button: 'Garder mon panier', send: 'Recevoir le SMS', yes: 'Oui, volontiers',
        no: 'Non merci', close: 'Fermer', thanks: 'Merci\u00a0! Votre panier est enregistr\u00e9.',
        thanks_sms: 'Merci\u00a0! Nous vous envoyons le lien par SMS.',
        confirm_sms: 'Merci\u00a0! R\u00e9pondez YES \u00e0 notre SMS pour confirmer.',
        bad_email: 'Veuillez saisir une adresse e-mail valide.',
        bad_phone: 'Veuillez saisir un num\u00e9ro de mobile valide.',
        tick: 'Veuillez cocher la case pour donner votre accord.',
        busy: 'Trop de tentatives. Veuillez r\u00e9essayer dans un instant.',
        failed: 'Une erreur s\u2019est produite. Veuillez r\u00e9essayer.'
      },
      es: {
        title: 'Guardamos tu carrito y te enviamos un enlace para que vuelvas',
        email: 'Correo electr\u00f3nico', phone: 'N\u00famero de m\u00f3vil',
        recovery: 'Quiero recibir por correo un enlace a mi carrito',
        checkout: 'Quiero recibir por correo un enlace a mi carrito si no termino la compra',
        notice: 'Si no terminas la compra, te enviaremos por correo un enlace a tu carrito. ' +
          'Puedes darte de baja cuando quieras.',
        more: '\u00bfQuieres recibir tambi\u00e9n novedades y ofertas?',
        marketing: 'Quiero recibir tambi\u00e9n novedades y ofertas por correo. Puedo darme de baja ' +
          'cuando quiera.',
        sms_title: 'Recibir por SMS mi enlace para pagar',
        sms: 'Al marcar esta casilla, aceptas recibir de {brand} mensajes de texto autom\u00e1ticos ' +
          'y peri\u00f3dicos para recordarte tu carrito en el n\u00famero indicado. El consentimiento no ' +
          'es una condici\u00f3n de compra. Pueden aplicarse tarifas por mensajes y datos. La ' +
          'frecuencia de los mensajes var\u00eda. Responde HELP para obtener ayuda y STOP para ' +
          'darte de baja.',
        button: 'Guardar mi carrito', send: 'Enviarme el SMS', yes: 'S\u00ed, gracias',
        no: 'No, gracias', close: 'Cerrar', thanks: '\u00a1Gracias! Tu carrito est\u00e1 guardado.',
        thanks_sms: '\u00a1Gracias! Te enviaremos el enlace por SMS.',
        confirm_sms: '\u00a1Gracias! Responde YES a nuestro SMS para confirmar.',
        bad_email: 'Introduce una direcci\u00f3n de correo v\u00e1lida.',
        bad_phone: 'Introduce un n\u00famero de m\u00f3vil v\u00e1lido.',
        tick: 'Marca la casilla para dar tu consentimiento.',
        busy: 'Demasiados intentos. Vuelve a intentarlo en un momento.',
        failed: 'Algo ha fallado. Int\u00e9ntalo de nuevo.'
      }
    };
    // The page's language first (the shop is written in it), then the browser's; English else.
    // The store's own texts, by language and by full tag, override ours key by key.
    // Tags as the server keeps them: de-DE, zh-Hant-TW.
    var locale = (d.documentElement.lang || navigator.language || 'en').split('-').map(function (s, i) {
      return !i ? s.toLowerCase() : s.length === 2 ? s.toUpperCase() :
        s.length === 4 ? s[0].toUpperCase() + s.slice(1).toLowerCase() : s;
    }).join('-');
    var lang = locale.split('-')[0];
    var texts = config.texts || {};
    var L = Object.assign({}, T.en, T[lang], texts[lang], texts[locale]);
    // A store's text for one widget (`cart_page.title`) wins over its text for all (`title`).
    var t = function (k, widget) {
      var own = L[widget + '.' + k];
      return String(own != null ? own : L[k]).replace(/\{brand\}/g, sms.brand || location.hostname);
    };
    var esc = function (s) {
      return s.replace(/[&<>"]/g, function (c) { return '&#' + c.charCodeAt(0) + ';'; });
    };

    var safe = function (fn) {
      return function () {
        try {
          return fn.apply(this, arguments);
        } catch (e) { /* never into the page */ }
      };
    };
    var store = function (k, v) {
      try {
        if (v === undefined) return w.localStorage.getItem('cartback_' + k);
        w.localStorage.setItem('cartback_' + k, v);
      } catch (e) { /* storage refused */ }
    };
    var dismissed = function (widget) {
      return Number(store('dismissed_' + widget)) > Date.now() - 30 * DAY;
    };
    // The email prompts all ask one question: "No thanks" to one is "no thanks" to each.
    var EMAIL_PROMPTS = ['cart_page', 'checkout_button', 'cart_drawer', 'exit_intent'];
    var declined = function (widget) {
      return EMAIL_PROMPTS.indexOf(widget) < 0 ? dismissed(widget) : EMAIL_PROMPTS.some(dismissed);
    };
    var channel = function (widget) {
      return widget === 'post_abandon' ? 'sms' : 'email';
    };
    var emit = function (name, detail) {
      w.dispatchEvent(new CustomEvent('cartback:' + name, { detail: detail }));
    };

    var post = function (fields, form) {
      var body = Object.assign({
        writeKey: bridge.key,
        anonymous_id: cb.anonymousId(),
        cart_id: cb.cartId(),
        locale: locale,
        gpc: bridge.gpc,
        website: form ? form.elements.website.value : ''
      }, fields);
      var cookies = bridge.cookieConsent();
      if (cookies) body.cookie_consent = cookies;
      return w.fetch(bridge.base + 'v1/capture', {
        method: 'POST', body: JSON.stringify(body), credentials: 'omit', keepalive: true
      }).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (json) {
          return { status: response.status, body: json || {} };
        });
      }, function () { return { status: 0, body: {} }; });
    };
    var consent = function (chan, purpose, text, version) {
      return { channel: chan, purpose: purpose, granted: true, text: text, text_version: version };
    };

    var CSS = ':host{all:initial;display:block;font:14px/1.4 var(--cartback-font,system-ui,' +
      'sans-serif);color:var(--cartback-text,#1f2328)}' +
      ':host(.float){position:fixed;left:16px;bottom:16px;z-index:2147483000;' +
      'width:min(360px,calc(100vw - 32px))}' +
      '.box{position:relative;box-sizing:border-box;margin:8px 0;padding:12px 14px;' +
      'background:var(--cartback-bg,#fff);border:1px solid rgba(0,0,0,.18);' +
      'border-radius:var(--cartback-radius,8px)}' +
      ':host(.float) .box{margin:0;box-shadow:0 4px 18px rgba(0,0,0,.2)}' +
      '.plain{margin:6px 0}h2{font-size:15px;margin:0 28px 8px 0}p{margin:4px 0}' +
      'label{display:block}.row{display:flex;gap:8px;align-items:flex-start;margin:8px 0}' +
      'input[type=email],input[type=tel]{box-sizing:border-box;width:100%;margin:4px 0 0;' +
      'padding:8px;font:inherit;color:#1f2328;background:#fff;border:1px solid #767676;' +
      'border-radius:var(--cartback-radius,8px)}' +
      'input[type=checkbox]{flex:none;width:16px;height:16px;margin:2px 0 0}' +
      'button{font:inherit;cursor:pointer;padding:8px 12px;' +
      'border:1px solid var(--cartback-accent,#1a56db);border-radius:var(--cartback-radius,8px)}' +
      '.go{color:#fff;background:var(--cartback-accent,#1a56db)}' +
      '.no{color:inherit;background:none;border-color:transparent;text-decoration:underline}' +
      '.x{position:absolute;top:4px;right:4px;padding:2px 8px;border:0;background:none;' +
      'font-size:20px;line-height:1}' +
      '.err{color:#b42318}.err:empty,[role=status]:empty{display:none}small{font-size:12px}' +
      '.hp{position:absolute;left:-9999px;width:1px;height:1px;overflow:hidden}' +
      ':focus-visible{outline:2px solid var(--cartback-accent,#1a56db);outline-offset:2px}';

    var views = {}; // widget -> its open view
    var opened = {}; // widget -> shown once on this page

    // One widget: a host element with a shadow root, placed after `anchor` or floating.
    var View = function (widget, anchor, focus) {
      var view = this;
      var host = d.createElement('cartback-widget');
      host.setAttribute('data-cartback-widget', widget);
      var root = host.attachShadow({ mode: 'open' });
      var prompt = PROMPTS.indexOf(widget) >= 0;
      var opener = focus ? d.activeElement : null;
      view.widget = widget;
      view.host = host;
      view.root = root;
      view.$ = function (id) { return root.getElementById(id); };
      root.innerHTML = '<style>' + CSS + '</style>' + (widget === 'checkout'
        ? '<div class="plain" id="body"></div>'
        : '<div class="box" aria-labelledby="h" ' + (prompt
          ? 'role="dialog" aria-modal="false"><button class="x" type="button" id="x" ' +
            'aria-label="' + esc(t('close', widget)) + '">\u00d7</button>'
          : 'role="region">') + '<div id="body"></div>' +
          '<p role="status" aria-live="polite" id="status"></p></div>');
      view.close = function (remember) {
        if (remember) {
          store('dismissed_' + widget, String(Date.now()));
          emit('dismissed', { widget: widget });
        }
        var inside = root.activeElement;
        if (host.parentNode) host.parentNode.removeChild(host);
        if (views[widget] === view) delete views[widget];
        if (inside && opener && opener.isConnected) opener.focus();
      };
      root.addEventListener('keydown', safe(function (e) {
        if (e.key === 'Escape' && widget !== 'checkout') view.close(true);
      }));
      root.addEventListener('click', safe(function (e) {
        var id = e.target.id;
        if (id === 'x' || id === 'no') view.close(true);
      }));
      if (anchor) {
        anchor.parentNode.insertBefore(host, anchor.nextSibling);
      } else {
        host.className = 'float';
        d.body.insertBefore(host, d.body.firstChild); // first in the tab order
      }
      views[widget] = view;
      view.focus = focus;
    };
    View.prototype.render = function (html, focusId) {
      this.$('body').innerHTML = html;
      var target = focusId && this.$(focusId);
      if (target && this.focus) target.focus();
    };
    View.prototype.say = function (message) {
      var status = this.$('status');
      if (status) status.textContent = message;
    };
    // A message under a field (or in the status line), tied to it for screen readers.
    View.prototype.error = function (id, message) {
      var field = id && this.$(id);
      if (!field) return this.say(message);
      this.$(id + 'e').textContent = message;
      field.setAttribute('aria-invalid', 'true');
    };
    View.prototype.clear = function () {
      var view = this;
      [].forEach.call(view.root.querySelectorAll('[aria-invalid]'), function (f) {
        f.removeAttribute('aria-invalid');
      });
      [].forEach.call(view.root.querySelectorAll('.err'), function (e) { e.textContent = ''; });
      view.say('');
    };
    View.prototype.failed = function (result) {
      var view = this;
      if (result.status === 429) return view.say(t('busy', view.widget));
      var errors = result.status === 400 && Array.isArray(result.body.errors) ? result.body.errors : [];
      if (!errors.length) {
        var said = result.status === 400 && (result.body.detail || result.body.title);
        return view.say(said || t('failed', view.widget));
      }
      var first = null;
      errors.forEach(function (e) {
        var path = String(e && e.path);
        var id = /phone/.test(path) ? 'f' : /email/.test(path) ? 'f' : null;
        view.error(id, String(e && e.message));
        first = first || id;
      });
      if (first && view.$(first)) view.$(first).focus();
    };

    var field = function (type, label, widget) {
      return '<label for="f">' + esc(t(label, widget)) + '</label><input id="f" name="' + label +
        '" type="' + type + '" autocomplete="' + (type === 'tel' ? 'tel' : 'email') +
        '" aria-describedby="fe" required><p class="err" id="fe" aria-live="polite"></p>';
    };
    var tick = function (key, widget) {
      return '<div class="row"><input type="checkbox" id="c" aria-describedby="ce">' +
        '<label for="c" id="cl">' + esc(t(key, widget)) + '</label></div>' +
        '<p class="err" id="ce" aria-live="polite"></p>';
    };
    var buttons = function (go, widget) {
      return '<input class="hp" name="website" tabindex="-1" autocomplete="off" aria-hidden="true">' +
        '<div class="row"><button class="go" type="submit" id="go">' + esc(t(go, widget)) + '</button>' +
        '<button class="no" type="button" id="no">' + esc(t('no', widget)) + '</button></div>';
    };

    // A form step: checks the field and the box in the page, then sends what the shopper agreed to.
    var step = function (view, html, check, send, done) {
      view.render('<form novalidate id="form">' + html + '</form>', 'f');
      var form = view.$('form');
      form.addEventListener('submit', safe(function (e) {
        e.preventDefault();
        view.clear();
        var problem = check(form);
        if (problem) {
          view.error(problem[0], t(problem[1], view.widget));
          view.$(problem[0]).focus();
          return;
        }
        var button = view.$('go');
        button.disabled = true;
        post(send(form), form).then(safe(function (result) {
          button.disabled = false;
          if (result.status >= 200 && result.status < 300) done(); else view.failed(result);
        }));
      }));
    };
    var check = function (pattern, message, strip) {
      return function (form) {
        var f = form.elements.f;
        if (f && !pattern.test(f.value.trim().replace(strip || /$^/, ''))) return ['f', message];
        if (!form.elements.c.checked) return ['c', 'tick'];
      };
    };
    var captured = function (view, chan, purpose, thanks) {
      store('captured_' + chan, String(Date.now()));
      emit('captured', { widget: view.widget, channel: chan, purpose: purpose });
      Object.keys(views).forEach(function (k) {
        if (views[k] !== view && k !== 'checkout' && channel(k) === chan) views[k].close(false);
      });
      if (thanks) {
        var inside = !!view.root.activeElement;
        view.render('');
        view.say(t(thanks, view.widget));
        var status = view.$('status');
        status.setAttribute('tabindex', '-1');
        if (inside) status.focus(); // the form is gone: keep the keyboard where the shopper is
      }
    };
    var emailForm = function (view) {
      var widget = view.widget;
      var email = '';
      var text = t('recovery', widget);
      step(view, '<h2 id="h">' + esc(t('title', widget)) + '</h2>' +
        field('email', 'email', widget) + tick('recovery', widget) + buttons('button', widget),
      check(EMAIL, 'bad_email'), function (form) {
        email = form.elements.f.value.trim();
        return {
          email: email, action: 'submitted', widget: widget,
          consents: [consent('email', 'recovery', text, widget + '.recovery.v1')]
        };
      }, function () {
        captured(view, 'email', 'recovery', config.marketing ? null : 'thanks');
        if (config.marketing) marketing(view, email);
      });
    };
    // The second step, only after recovery consent: marketing, on its own, unticked.
    var marketing = function (view, email) {
      var widget = view.widget;
      var text = t('marketing', widget);
      step(view, '<h2 id="h">' + esc(t('more', widget)) + '</h2>' + tick('marketing', widget) +
        buttons('yes', widget),
        check(), function () {
          return {
            email: email, action: 'submitted', widget: view.widget,
            consents: [consent('email', 'marketing', text, view.widget + '.marketing.v1')]
          };
        }, function () { captured(view, 'email', 'marketing', 'thanks'); });
      view.say(t('thanks', widget));
      if (view.focus) view.$('c').focus();
    };
    var smsForm = function (view) {
      var widget = view.widget;
      var text = t('sms', widget);
      step(view, '<h2 id="h">' + esc(t('sms_title', widget)) + '</h2>' +
        field('tel', 'phone', widget) + tick('sms', widget) + buttons('send', widget),
      check(PHONE, 'bad_phone', /[\s().-]/g), function (form) {
        return {
          phone: form.elements.f.value.trim(), action: 'submitted', widget: view.widget,
          consents: [consent('sms', 'recovery', text, view.widget + '.sms.v1')]
        };
      }, function () {
        captured(view, 'sms', 'recovery', sms.double_opt_in ? 'confirm_sms' : 'thanks_sms');
      });
    };

    var open = function (widget, anchor, focus) {
      if (!on[widget] || views[widget] || declined(widget)) return;
      if (store('captured_' + channel(widget))) return;
      if (widget === 'post_abandon' && !sms.enabled) return;
      var view = new View(widget, anchor, focus);
      opened[widget] = true;
      if (widget === 'post_abandon') smsForm(view); else emailForm(view);
    };

    // Checkout pages: the address the shopper typed into the shop's own field, once they leave it.
    var bound = typeof WeakMap === 'function' ? new WeakMap() : null;
    var checkoutPage = function () {
      return !!d.querySelector('.woocommerce-checkout,.wc-block-checkout,form.checkout,' +
        '[data-cartback-checkout]') || /checkout/i.test(location.pathname);
    };
    var checkoutField = function (input) {
      var anchor = input.closest('.wc-block-components-text-input,.form-row') || input;
      var view = new View('checkout', anchor, false);
      bound.set(input, view);
      var typed = false;
      var left = false;
      var sent = ''; // the address sent with consent granted
      view.render((us
        ? '<p><small id="cl">' + esc(t('notice', 'checkout')) + '</small> <button class="no" type="button" ' +
          'id="no">' + esc(t('no', 'checkout')) + '</button></p>'
        : tick('checkout', 'checkout')) +
        '<p role="status" aria-live="polite" id="status" class="err"></p>');
      var box = view.$('c');
      var text = view.$('cl').textContent;
      var send = function (email, granted) {
        var version = 'checkout.' + (us ? 'notice' : 'recovery') + '.v1';
        var agreed = consent('email', 'recovery', text, version);
        agreed.granted = granted;
        sent = granted ? email : '';
        post({ email: email, action: 'checkout_field', widget: 'checkout', consents: [agreed] })
          .then(safe(function (result) {
            if (result.status !== 200) {
              sent = '';
              return view.failed(result);
            }
            if (granted) captured(view, 'email', 'recovery', null);
          }));
      };
      var decide = safe(function () {
        var value = input.value.trim();
        var agreed = us ? !dismissed('checkout') : box.checked;
        view.say('');
        if (!agreed) {
          if (sent) send(sent, false); // unticked after it was sent: withdrawn
          return;
        }
        if (!typed || !left || value === sent) return;
        if (!EMAIL.test(value)) return view.say(t('bad_email', 'checkout'));
        send(value, true);
      });
      // Only the shopper's own typing counts: autofill and scripts fill fields without keys.
      var keyed = safe(function (e) {
        var autofilled = false;
        try {
          autofilled = input.matches(':autofill');
        } catch (err) { /* an older browser */ }
        if (!e.isTrusted || autofilled) return;
        if (e.type !== 'keydown' || !/^(Tab|Shift|Control|Alt|Meta|Escape|Enter|Arrow)/.test(e.key)) {
          typed = typed || e.type !== 'input' || !!e.inputType && e.inputType !== 'insertReplacementText';
        }
      });
      ['keydown', 'paste', 'drop', 'input'].forEach(function (name) {
        input.addEventListener(name, keyed);
      });
      var leave = function () {
        left = true;
        decide();
      };
      input.addEventListener('change', leave);
      input.addEventListener('blur', leave);
      if (box) box.addEventListener('change', decide);
      view.close = function (remember) { // "No thanks" under the notice: nothing will be sent
        if (remember) store('dismissed_checkout', String(Date.now()));
        if (remember) emit('dismissed', { widget: 'checkout' });
        view.render('');
      };
    };
    var scanCheckout = function () {
      if (!bound || !checkoutPage() || dismissed('checkout')) return;
      var inputs = d.querySelectorAll('#billing_email,.wc-block-checkout #email');
      if (!inputs.length) inputs = d.querySelectorAll('input[type=email][autocomplete$=email]');
      [].forEach.call(inputs, function (input) {
        var view = bound.get(input);
        if (!view) return checkoutField(input);
        if (!view.host.isConnected && input.isConnected) {
          var anchor = input.closest('.wc-block-components-text-input,.form-row') || input;
          anchor.parentNode.insertBefore(view.host, anchor.nextSibling);
        }
      });
    };

    var visible = function (el) {
      var r = el.getBoundingClientRect();
      return r.width > 0 && r.height > 0 && r.right > 0 && r.left < w.innerWidth &&
        el.getAttribute('aria-hidden') !== 'true' && getComputedStyle(el).visibility !== 'hidden';
    };
    var DRAWERS = '[data-cartback-drawer],cart-drawer,#CartDrawer,.cart-drawer,.mini-cart,' +
      '.wc-block-mini-cart__drawer,.drawer--cart,.side-cart';
    var drawerOpen = false;
    var scan = safe(function () {
      if (on.checkout) scanCheckout();
      if (on.cart_page && !opened.cart_page) {
        var summary = d.querySelector('[data-cartback-cart],.cart_totals,' +
          '.wc-block-cart__sidebar,.cart__footer,.cart-summary');
        if (summary) open('cart_page', summary, false);
      }
      // One email prompt per cart page: the one beside the summary, else the one by the button.
      if (on.checkout_button && !opened.checkout_button && !opened.cart_page) {
        var button = d.querySelector('[data-cartback-checkout-button],.wc-proceed-to-checkout,' +
          '.wc-block-cart__submit-container,button[name=checkout],.checkout-button');
        if (button) open('checkout_button', button, false);
      }
      if (on.cart_drawer) {
        var now = [].some.call(d.querySelectorAll(DRAWERS), visible);
        if (now && !drawerOpen) open('cart_drawer', null, false);
        if (!now && drawerOpen && views.cart_drawer) views.cart_drawer.close(false);
        drawerOpen = now;
      }
    });
    var pendingScan = 0;
    var later = function () {
      clearTimeout(pendingScan);
      pendingScan = setTimeout(scan, 200); // drawers slide in; look once they have settled
    };

    var cart = function () {
      return bridge.cart() || {};
    };
    // After abandonment: a later visit, with items left longer than the store's delay.
    var prior = bridge.prior || {};
    var delay = (Number(config.abandon_after_seconds) || 1800) * 1000;
    var session = function (v) { // once per browser session, where the browser allows it
      try {
        if (v) w.sessionStorage.setItem('cartback_post_abandon', v);
        return w.sessionStorage.getItem('cartback_post_abandon');
      } catch (e) { /* no session storage: once per page */ }
    };
    if (on.post_abandon && !session() && prior.n > 0 && Date.now() - prior.t > delay) {
      open('post_abandon', null, false);
      if (views.post_abandon) session('1');
    }
    if (on.exit_intent && w.matchMedia && w.matchMedia('(pointer: fine)').matches) {
      d.addEventListener('mouseout', safe(function (e) {
        if (!e.relatedTarget && e.clientY <= 0 && !opened.exit_intent && cart().n > 0) {
          open('exit_intent', null, true);
        }
      }));
    }

    cb.capture = {
      ready: true,
      show: safe(function (widget) {
        if (widget === 'checkout') return scanCheckout();
        open(String(widget), null, true);
      }),
      hide: safe(function () {
        Object.keys(views).forEach(function (k) {
          if (k !== 'checkout') views[k].close(false);
        });
      })
    };
    scan();
    if (typeof MutationObserver === 'function') {
      new MutationObserver(later).observe(d.documentElement, {
        childList: true, subtree: true, attributes: true,
        attributeFilter: ['class', 'open', 'hidden', 'aria-hidden', 'style']
      });
    }
    bridge.pending.forEach(function (call) { cb.capture[call[0]](call[1]); });
  } catch (e) { /* never into the page */ }
})(window, document);
