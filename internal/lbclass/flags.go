package lbclass

// The flag names, the same on barelb-ccm and barelb-nodehelper.
const (
	FlagClass          = "load-balancer-class"
	FlagServeClassless = "serve-classless"
)

// FlagSet is where AddFlags registers the flags: the standard library's
// *flag.FlagSet (barelb-nodehelper) and spf13/pflag's *pflag.FlagSet
// (barelb-ccm, through cobra) both are one.
type FlagSet interface {
	StringVar(p *string, name, value, usage string)
	BoolVar(p *bool, name string, value bool, usage string)
}

// Flags are the values of --load-balancer-class and --serve-classless.
type Flags struct {
	Class          string
	ServeClassless bool
}

// AddFlags registers both flags on fs, with their defaults: no class, and
// the class-less Services served (barelb's behaviour without the flags).
func (f *Flags) AddFlags(fs FlagSet) {
	fs.StringVar(&f.Class, FlagClass, "", "Also serve the LoadBalancer Services whose spec.loadBalancerClass is this name (a qualified name such as example.com/barelb); empty serves no class. Give barelb-ccm and barelb-nodehelper the same value.")
	fs.BoolVar(&f.ServeClassless, FlagServeClassless, true, "Serve the LoadBalancer Services without spec.loadBalancerClass; false leaves them to another implementation (needs --"+FlagClass+"). Give barelb-ccm and barelb-nodehelper the same value.")
}

// Selector returns the validated Selector of the flags.
func (f Flags) Selector() (Selector, error) {
	s := Selector{Class: f.Class, SkipClassless: !f.ServeClassless}
	if err := s.Validate(); err != nil {
		return Selector{}, err
	}
	return s, nil
}
