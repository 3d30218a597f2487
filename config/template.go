package config

import (
	"bytes"
	"encoding/json"
	"errors"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
)

// Template is a definition's template, compiled once when the config is
// loaded. Text templates are Go text/template; an email's HTML template is
// html/template, so that input values are escaped. A variable missing from
// the input is an error ("map has no entry for key"), not a silent
// "<no value>": `{{index . "name"}}` or `{{or (index . "name") "there"}}`
// makes a variable optional.
type Template struct {
	src  string
	text *texttemplate.Template
	html *htmltemplate.Template
}

// Funcs available in provider body templates (the generic HTTP SMS
// provider), beyond text/template's own (urlquery, js, html, printf...).
var providerFuncs = texttemplate.FuncMap{
	// json writes a value as JSON, e.g. {"to": {{json .To}}}.
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
}

// ErrNoTemplate is returned by Execute of a nil Template.
var ErrNoTemplate = errors.New("no template")

func compileText(name, src string, funcs texttemplate.FuncMap) (*Template, error) {
	t := texttemplate.New(name).Option("missingkey=error")
	if funcs != nil {
		t = t.Funcs(funcs)
	}
	t, err := t.Parse(src)
	if err != nil {
		return nil, err
	}
	return &Template{src: src, text: t}, nil
}

func compileHTML(name, src string) (*Template, error) {
	t, err := htmltemplate.New(name).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, err
	}
	return &Template{src: src, html: t}, nil
}

// NewTextTemplate compiles a text template as config loading does (tests
// and tools use it).
func NewTextTemplate(name, src string) (*Template, error) { return compileText(name, src, nil) }

// NewHTMLTemplate compiles an HTML template as config loading does.
func NewHTMLTemplate(name, src string) (*Template, error) { return compileHTML(name, src) }

// Source is the template as configured (unresolved).
func (t *Template) Source() string {
	if t == nil {
		return ""
	}
	return t.src
}

// Empty reports whether there is no template or it is the empty string.
func (t *Template) Empty() bool { return t == nil || t.src == "" }

// Execute renders the template over data. A nil data is an empty map, so
// that a template without variables renders for an input without the map.
func (t *Template) Execute(data any) (string, error) {
	if t == nil {
		return "", nil
	}
	if data == nil {
		data = map[string]any{}
	}
	var b bytes.Buffer
	var err error
	if t.html != nil {
		err = t.html.Execute(&b, data)
	} else {
		err = t.text.Execute(&b, data)
	}
	if err != nil {
		return "", cleanTemplateError(err)
	}
	return b.String(), nil
}

// cleanTemplateError drops text/template's "template: name:" prefix noise
// while keeping line, column and the reason.
type templateError struct{ msg string }

func (e *templateError) Error() string { return e.msg }

func cleanTemplateError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "template: ")
	return &templateError{msg: msg}
}
