/*! cartback.js: Cartback's storefront snippet. Apache-2.0. Set-up: docs/platforms.md
 *
 * <script src="https://CARTBACK/static/cartback.js" data-key="cb_pk_YOUR_PUBLIC_KEY" async></script>
 *
 * Hand-written ES2017, no build step and no dependencies. It never throws into the page and
 * stays silent. No contact detail leaves the page unless the page passes it to
 * cartback.identify() itself, or the shopper types it into a capture widget and agrees
 * (cartback-capture.js, loaded only when the store switches a widget on).
 */
(function (w, d) {
  'use strict';
  try {
    var VERSION = '0.1.0';
    var previous = w.cartback;
    if (previous && previous.VERSION) return; // a second copy of the tag: the first one works

    var ANON = 'cartback_anonymous_id';
    var CART = 'cartback_cart_id';
    var ORDER = 'cartback_last_order';
    var ACTIVE = 'cartback_cart_state'; // {t: last cart event (ms), n: items}, for post_abandon
    var FLUSH_MS = 1000;
    var MAX_BATCH = 50; // messages per request
    var MAX_CHARS = 20000; // per request: sendBeacon and keepalive share 64 KB in flight
    var MAX_QUEUE = 1000;
    var RATE = 10; // events per second, after a burst of BURST (like posthog-js)
    var BURST = 100;

    // GA4 ecommerce events and the Segment e-commerce spec names Cartback understands.
    var GA4 = {
      view_item: 'Product Viewed',
      add_to_cart: 'Product Added',
      remove_from_cart: 'Product Removed',
      view_cart: 'Cart Viewed',
      begin_checkout: 'Checkout Started',
      add_shipping_info: 'Checkout Step Completed',
      add_payment_info: 'Payment Info Entered',
      purchase: 'Order Completed',
      refund: 'Order Refunded'
    };
    // GA4 ecommerce events that change no cart: neither sent nor reported as unmapped.
    var QUIET = ['view_item_list', 'select_item', 'view_promotion', 'select_promotion',
      'add_to_wishlist'];
    var PER_ITEM = /^product (viewed|added|removed)$/i;
    var CART_EVENT = /^(product (added|removed)|cart viewed|checkout (started|step (viewed|completed))|payment info entered)$/i;

    var script = d.currentScript || d.querySelector('script[data-key][src*="cartback"]');
    var attr = function (name) {
      return script ? script.getAttribute('data-' + name) : null;
    };
    var key = attr('key');
    var api = attr('api');
    var endpoint = null;
    try {
      endpoint = (api ? new URL('v1/t', api.replace(/\/?$/, '/')) : new URL('/v1/t', script.src)).href;
    } catch (e) { /* no usable address: the API below does nothing */ }
    var aliases = {};
    try {
      aliases = JSON.parse(attr('aliases') || '{}');
    } catch (e) { /* a malformed attribute is ignored */ }

    var safe = function (fn) {
      return function () {
        try {
          return fn.apply(this, arguments);
        } catch (e) { /* never into the page */ }
      };
    };
    var obj = function (value) {
      return value && typeof value === 'object' ? value : {};
    };
    var own = function (o, k) {
      return Object.prototype.hasOwnProperty.call(o, k);
    };

    // First-party ids: localStorage, or a cookie where storage is refused.
    var cookie = function (k, v) {
      if (v === undefined) {
        var found = d.cookie.match(new RegExp('(?:^|; )' + k + '=([^;]*)'));
        return found ? decodeURIComponent(found[1]) : null;
      }
      d.cookie = k + '=' + encodeURIComponent(v || '') + '; path=/; SameSite=Lax; max-age=' +
        (v ? 31536000 : 0) + (location.protocol === 'https:' ? '; Secure' : '');
    };
    var get = function (k) {
      var v = null;
      try {
        v = w.localStorage.getItem(k);
      } catch (e) { /* storage refused */ }
      return v || cookie(k);
    };
    var put = function (k, v) {
      try {
        if (v) {
          w.localStorage.setItem(k, v);
          return;
        }
        w.localStorage.removeItem(k);
      } catch (e) { /* storage refused: the cookie holds it */ }
      cookie(k, v);
    };
    var uuid = function () {
      var b = new Uint8Array(16);
      w.crypto.getRandomValues(b);
      b[6] = (b[6] & 15) | 64;
      b[8] = (b[8] & 63) | 128;
      var s = '';
      for (var i = 0; i < 16; i++) {
        s += (b[i] + 256).toString(16).slice(1) + (i === 3 || i === 5 || i === 7 || i === 9 ? '-' : '');
      }
      return s;
    };
    var stored = function (k) {
      var id = get(k);
      if (!id) {
        id = uuid();
        put(k, id);
      }
      return id;
    };

    // Strictly increasing times, so events of one page keep their order on the server.
    var last = 0;
    var stamp = function () {
      last = Math.max(Date.now(), last + 1);
      return new Date(last).toISOString();
    };
    // A query value holding an address (a newsletter link's ?email=) never leaves the page.
    var clean = function (url) {
      return String(url || '').replace(/([?&#][^=&#]*=)[^&#]*(@|%40)[^&#]*/gi, '$1redacted');
    };
    var pageInfo = function () {
      return {
        path: location.pathname,
        referrer: clean(d.referrer),
        search: clean(location.search),
        title: d.title,
        url: clean(location.href)
      };
    };
    var shared = {
      userAgent: navigator.userAgent,
      locale: navigator.language,
      library: { name: 'cartback.js', version: VERSION }
    };
    var gpc = navigator.globalPrivacyControl === true;
    if (gpc) shared.gpc = true;
    // The store's cookie consent (Google Consent Mode or cartback.consent): unknown until told.
    // While analytics storage is denied nothing is tracked, and nothing is kept for later.
    var consent = {};
    var setConsent = function (state) {
      var s = obj(state);
      ['ads', 'analytics'].forEach(function (k) {
        if (typeof s[k] === 'boolean') consent[k] = s[k];
      });
      if (consent.analytics === false) queue = [];
    };
    var cookieConsent = function () {
      if (consent.ads === false || consent.analytics === false) return 'denied';
      if (consent.ads || consent.analytics) return 'granted';
    };

    // Sending: batches, by fetch(keepalive) after a short pause, by sendBeacon on page hide.
    var queue = [];
    var timer = 0;
    var failures = 0;
    var tokens = BURST;
    var refilled = Date.now();
    var allow = function () {
      var now = Date.now();
      tokens = Math.min(BURST, tokens + (now - refilled) * RATE / 1000);
      refilled = now;
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    };
    var later = function (ms) {
      if (!timer) timer = setTimeout(safe(function () { timer = 0; flush(); }), ms);
    };
    var retry = function (batch) {
      failures += 1;
      if (failures > 5) {
        failures = 0; // give this batch up; the server keeps no half of it
        return;
      }
      queue = batch.concat(queue).slice(0, MAX_QUEUE);
      later(1000 * Math.pow(2, failures));
    };
    var send = function (batch, beacon) {
      var body = JSON.stringify({
        batch: batch, sentAt: new Date().toISOString(), writeKey: key, context: shared
      });
      // A string body goes as text/plain: no CORS preflight, and the beacon may carry it.
      if (beacon && navigator.sendBeacon && navigator.sendBeacon(endpoint, body)) return;
      if (!w.fetch) return;
      w.fetch(endpoint, { method: 'POST', body: body, keepalive: true, credentials: 'omit' })
        .then(safe(function (response) {
          var refused = response.status >= 400 && response.status < 500 && response.status !== 429;
          if (response.ok || refused) failures = 0; else retry(batch);
        }), safe(function () { retry(batch); }));
    };
    var flush = function (beacon) {
      clearTimeout(timer);
      timer = 0;
      while (queue.length) {
        var batch = [];
        var size = 0;
        while (queue.length && batch.length < MAX_BATCH) {
          var length = JSON.stringify(queue[0]).length;
          if (batch.length && size + length > MAX_CHARS) break;
          batch.push(queue.shift());
          size += length;
        }
        send(batch, beacon);
      }
    };
    // Meta's browser ids (its pixel's cookies, else the ad click's fbclid), so the server's
    // conversion events match the pixel's. Never after a no to ads.
    var fbclid = (location.search.match(/[?&]fbclid=([^&#]+)/) || [])[1];
    var clicked = fbclid ? 'fb.1.' + Date.now() + '.' + fbclid : undefined;
    var adIds = function () {
      if (gpc || consent.ads === false) return {};
      return { fbp: cookie('_fbp') || undefined, fbc: cookie('_fbc') || clicked };
    };
    // The message id, or nothing when the message was not queued.
    var enqueue = function (type, fields) {
      if (consent.analytics === false) return;
      if (!endpoint || !key || queue.length >= MAX_QUEUE || !allow()) return;
      var message = Object.assign({
        type: type,
        messageId: uuid(),
        anonymousId: stored(ANON),
        timestamp: stamp(),
        context: Object.assign({ page: pageInfo() }, adIds())
      }, fields);
      queue.push(message);
      if (queue.length >= MAX_BATCH) flush(); else later(FLUSH_MS);
      return message.messageId;
    };
    // The page's Meta pixel may send the same event with this id as its eventID: Meta then
    // counts the pixel's event and the server's once (docs/capture.md).
    var announce = function (name, id, properties) {
      if (typeof w.CustomEvent !== 'function') return;
      w.dispatchEvent(new w.CustomEvent('cartback:track', {
        detail: { event: name, messageId: id, properties: properties }
      }));
    };

    // Names: the store's aliases first, then GA4's names.
    var resolve = function (name) {
      var table = Object.assign({}, obj(aliases), obj(w.cartbackAliases));
      var target = own(table, name) ? table[name] : name;
      return target && own(GA4, target) ? GA4[target] : target;
    };
    var active = function () {
      try {
        return obj(JSON.parse(get(ACTIVE)));
      } catch (e) {
        return {};
      }
    };
    // When the cart last changed and roughly how many items it holds: the SMS prompt after
    // abandonment is offered on a later visit, only for a cart with items left long enough.
    var remember = function (name, p) {
      var n = active().n || 0;
      var qty = whole(p.quantity) || 1;
      if (/^product added$/i.test(name)) n += qty;
      else if (/^product removed$/i.test(name)) n = Math.max(0, n - qty);
      else if (Array.isArray(p.products)) {
        n = p.products.reduce(function (sum, it) { return sum + (whole(obj(it).quantity) || 1); }, 0);
      }
      put(ACTIVE, JSON.stringify({ t: Date.now(), n: n }));
    };
    var trackAs = function (name, props) {
      if (consent.analytics === false) return; // not even the ids are written
      var properties = Object.assign({}, obj(props));
      var order = /^order completed$/i.test(name) && properties.order_id != null &&
        String(properties.order_id);
      // One order told twice (a reloaded thank-you page, a GA4 purchase beside the shop's own
      // signal) would otherwise close a second, empty cart.
      if (order && get(ORDER) === order) return;
      if (properties.cart_id == null) properties.cart_id = stored(CART);
      var event = String(name).slice(0, 200);
      var id = enqueue('track', { event: event, properties: properties });
      if (order) put(ORDER, order);
      if (CART_EVENT.test(name)) remember(name, properties);
      if (/^order completed$/i.test(name)) {
        put(CART, null); // the next cart is a new one
        put(ACTIVE, null);
      }
      if (id) announce(event, id, properties);
      return id;
    };

    // GA4 (and Universal Analytics) ecommerce data into Segment e-commerce properties.
    var text = function (v) {
      return v == null || v === '' ? undefined : String(v).slice(0, 200);
    };
    var num = function (v) {
      var n = typeof v === 'number' || (typeof v === 'string' && v.trim()) ? Number(v) : NaN;
      return isFinite(n) && n >= 0 ? n : undefined;
    };
    var whole = function (v) {
      var n = num(v);
      return n === Math.floor(n) ? n : undefined;
    };
    var currency = function (v) {
      return /^[A-Za-z]{3}$/.test(v) ? v.toUpperCase() : undefined;
    };
    var product = function (item) {
      var it = obj(item);
      return {
        product_id: text(it.item_id != null ? it.item_id : it.id) || text(it.item_name || it.name),
        name: text(it.item_name || it.name),
        variant: text(it.item_variant || it.variant),
        category: text(it.item_category || it.category),
        brand: text(it.item_brand || it.brand),
        price: num(it.price),
        quantity: whole(it.quantity)
      };
    };
    var products = function (e) {
      var list = e.items;
      if (!Array.isArray(list)) {
        list = obj(e.add || e.remove || e.detail || e.checkout || e.purchase || e.refund).products;
      }
      return Array.isArray(list) ? list.slice(0, 500).map(product).filter(function (p) {
        return p.product_id;
      }) : [];
    };
    var translate = function (target, e) {
      var action = obj(obj(e.purchase || e.refund || e.checkout).actionField);
      var common = { currency: currency(e.currency || e.currencyCode) };
      var list = products(e);
      if (PER_ITEM.test(target)) {
        return list.map(function (p) { return Object.assign({}, common, p); });
      }
      return [Object.assign(common, {
        products: list.length ? list : undefined,
        value: num(e.value != null ? e.value : action.revenue),
        order_id: text(e.transaction_id || action.id),
        tax: num(e.tax != null ? e.tax : action.tax),
        shipping: num(e.shipping != null ? e.shipping : action.shipping),
        coupon: text(e.coupon || action.coupon),
        shipping_method: text(e.shipping_tier),
        payment_method: text(e.payment_type),
        step: text(action.step)
      })];
    };
    var seen = typeof WeakSet === 'function' ? new WeakSet() : null;
    var fromLayer = safe(function (entry) {
      if (!entry || typeof entry !== 'object' || (seen && seen.has(entry))) return;
      if (seen) seen.add(entry);
      // gtag('consent', 'default' | 'update', {analytics_storage, ad_storage}): Consent Mode.
      if (entry[0] === 'consent' && /^(default|update)$/.test(entry[1])) {
        var modes = obj(entry[2]);
        var granted = function (v) {
          return v === 'granted' ? true : v === 'denied' ? false : undefined;
        };
        setConsent({ ads: granted(modes.ad_storage), analytics: granted(modes.analytics_storage) });
        return;
      }
      // gtag('event', name, params) pushes its arguments; Tag Manager pushes {event, ecommerce}.
      var gtag = entry[0] === 'event';
      var name = gtag ? entry[1] : entry.event;
      if (typeof name !== 'string') return;
      var data = obj(gtag ? entry[2] : entry.ecommerce);
      var ecommerce = gtag ? Array.isArray(data.items) : entry.ecommerce === data;
      var target = resolve(name);
      if (!target) return; // aliased to nothing: ignored on purpose
      // A tag manager's own events (gtm.js, page_view and so on) are not ours; an unknown name that
      // carries ecommerce data is sent as it is, so the store sees it among unmapped events.
      if (target === name && (!ecommerce || QUIET.indexOf(name) >= 0)) return;
      translate(target, data).forEach(function (props) { trackAs(target, props); });
    });
    var watch = function () {
      var layer = w.dataLayer = w.dataLayer || [];
      if (!Array.isArray(layer)) return;
      layer.forEach(function (entry) { fromLayer(entry); });
      var push = layer.push;
      layer.push = function () {
        var result = push.apply(this, arguments); // the page's own push first, as it was
        for (var i = 0; i < arguments.length; i++) fromLayer(arguments[i]);
        return result;
      };
    };

    // WooCommerce, with no tag manager: the shop's own Store API (same origin, the shopper's
    // session cookie) holds the cart on classic and block pages alike. Only items and totals
    // are read; the addresses in that answer are not.
    var page = function (name) {
      return !!d.body && d.body.classList.contains('woocommerce-' + name);
    };
    var money = function (minor, digits) {
      var n = num(minor);
      return n === undefined ? undefined : n / Math.pow(10, whole(digits) || 0);
    };
    var wooLine = function (item) {
      var it = obj(item);
      var prices = obj(it.prices);
      var options = Array.isArray(it.variation) ? it.variation.map(function (v) {
        return obj(v).value;
      }).filter(Boolean).join(' / ') : '';
      var image = Array.isArray(it.images) && it.images[0];
      return {
        product_id: text(it.id),
        variant_id: options ? text(it.id) : undefined,
        sku: text(it.sku),
        name: text(it.name),
        variant: text(options),
        price: money(prices.price, prices.currency_minor_unit),
        quantity: whole(it.quantity),
        url: text(it.permalink),
        image_url: text(image && obj(image).src)
      };
    };
    var storeApi = function () {
      var link = d.querySelector('link[rel="https://api.w.org/"]');
      return (link ? link.href.replace(/\/?$/, '/') : location.origin + '/wp-json/') +
        'wc/store/v1/cart';
    };
    var wooSnapshot = safe(function () {
      var name = page('checkout') ? 'Checkout Started' : 'Cart Viewed';
      w.fetch(storeApi(), { credentials: 'same-origin', headers: { Accept: 'application/json' } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(safe(function (cart) {
          if (!cart || !Array.isArray(cart.items)) return;
          var totals = obj(cart.totals);
          trackAs(name, {
            products: cart.items.slice(0, 500).map(wooLine).filter(function (p) {
              return p.product_id;
            }),
            value: money(totals.total_price, totals.currency_minor_unit),
            currency: currency(totals.currency_code)
          });
        }), function () { /* no Store API here: nothing to read */ });
    });
    var wooPending = 0;
    var wooChanged = function () {
      clearTimeout(wooPending);
      wooPending = setTimeout(wooSnapshot, 300); // one read for a burst of changes
    };
    var watchWoo = function () {
      var platform = attr('platform');
      var woo = platform ? platform === 'woocommerce' : !!(w.wcSettings ||
        w.wc_add_to_cart_params || page('page') || page('cart') || page('checkout'));
      if (!woo || !w.fetch) return;
      if (page('order-received')) {
        var placed = location.pathname.match(/order-received\/(\d+)/) ||
          location.search.match(/[?&]order-received=(\d+)/);
        if (placed) trackAs('Order Completed', { order_id: placed[1] });
        return;
      }
      if (page('cart') || page('checkout')) wooChanged();
      // Block pages dispatch DOM events; classic pages trigger jQuery ones on the body.
      ['wc-blocks_added_to_cart', 'wc-blocks_removed_from_cart'].forEach(function (event) {
        d.body.addEventListener(event, safe(wooChanged));
      });
      var jq = w.jQuery;
      if (jq && jq.fn) {
        jq(d.body).on('added_to_cart removed_from_cart updated_cart_totals updated_checkout',
          safe(wooChanged));
      }
    };

    var pending = [];
    var cartback = {
      VERSION: VERSION,
      track: safe(function (name, props) {
        var target = typeof name === 'string' && resolve(name);
        if (target) return trackAs(target, props); // the messageId, for a pixel's eventID
      }),
      identify: safe(function (userId, traits) {
        if (userId && typeof userId === 'object') {
          traits = userId;
          userId = null;
        }
        var fields = { traits: Object.assign({}, obj(traits)) };
        if (userId != null && userId !== '') fields.userId = String(userId);
        if (fields.userId || Object.keys(fields.traits).length) enqueue('identify', fields);
      }),
      page: safe(function (name, props) {
        enqueue('page', {
          name: text(name), properties: Object.assign(pageInfo(), obj(props))
        });
      }),
      flush: safe(function () { flush(); }),
      anonymousId: safe(function () { return stored(ANON); }),
      cartId: safe(function () { return stored(CART); }),
      reset: safe(function () {
        put(ANON, null);
        put(CART, null);
        put(ORDER, null);
      }),
      consent: safe(setConsent),
      // Replaced by cartback-capture.js; calls made before it loads wait for it.
      capture: {
        show: safe(function (widget) { pending.push(['show', widget]); }),
        hide: safe(function () { pending.push(['hide']); })
      },
      push: safe(function (call) {
        var method = call && cartback[call[0]];
        if (call[0] !== 'push' && typeof method === 'function') {
          method.apply(cartback, [].slice.call(call, 1));
        }
      })
    };
    w.cartback = cartback;
    w.addEventListener('pagehide', safe(function () { flush(true); }));
    d.addEventListener('visibilitychange', safe(function () {
      if (d.visibilityState === 'hidden') flush(true);
    }));
    // The consent the page set before loading us applies to the calls it queued, too.
    if (Array.isArray(w.dataLayer)) {
      w.dataLayer.forEach(function (entry) { if (entry && entry[0] === 'consent') fromLayer(entry); });
    }
    // Calls queued before the script loaded, as window.cartback = [['track', name, props]].
    if (Array.isArray(previous)) previous.forEach(cartback.push);
    var prior = active(); // read before this page's own cart events refresh it
    watch();
    if (d.body) watchWoo(); else d.addEventListener('DOMContentLoaded', safe(watchWoo));
    // Capture widgets: the store's settings decide; the widget code loads only when one is on.
    if (endpoint && key && w.fetch) {
      var base = endpoint.slice(0, -4); // without 'v1/t'
      w.fetch(base + 'v1/capture/config?writeKey=' + encodeURIComponent(key), { credentials: 'omit' })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(safe(function (config) {
          var widgets = obj(obj(config).widgets);
          if (!Object.keys(widgets).some(function (k) { return widgets[k] === true; })) return;
          cartback._capture = {
            config: config, key: key, base: base, prior: prior, cart: active, pending: pending,
            gpc: gpc, cookieConsent: cookieConsent
          };
          var tag = d.createElement('script');
          tag.async = true;
          tag.src = new URL('cartback-capture.js?v=' + VERSION, script.src).href; // one release
          (d.head || d.documentElement).appendChild(tag);
        }))
        .catch(function () { /* no capture settings: no widgets */ });
    }
    if (attr('track-pages') === 'true') cartback.page();
  } catch (e) { /* never into the page */ }
})(window, document);
